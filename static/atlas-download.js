/* 精致威海规划图 — downloads: fetched, streamed with progress, saved under the server's file name
 * (Content-Disposition); a refused one rejects with the server's message, read as text only. */
(function () {
  'use strict';
  var Atlas = window.Atlas;

  // -- downloads: streamed, with progress, saved under the server's name ---------------------------
  Atlas.filenameFrom = function (disposition) {
    if (!disposition) { return null; }
    var name = null, star = /filename\*\s*=\s*UTF-8''([^;]+)/i.exec(disposition);
    if (star) {
      try { name = decodeURIComponent(star[1].trim()); } catch (err) { name = null; }
    }
    if (!name) {
      var plain = /filename\s*=\s*"([^"]*)"/i.exec(disposition) || /filename\s*=\s*([^;]+)/i.exec(disposition);
      name = plain ? plain[1].trim() : null;
    }
    return name ? name.replace(/[\\/:*?"<>|\u0000-\u001f]/g, '_') : null;
  };

  Atlas.formatBytes = function (n) {
    if (n < 1024) { return n + ' B'; }
    if (n < 1024 * 1024) { return Atlas.number(n / 1024, 1) + ' KB'; }
    return Atlas.number(n / 1024 / 1024, 1) + ' MB';
  };

  // The message of a failed answer: {error, detail} JSON from the API, or the error page's text.
  function errorText(resp) {
    var type = resp.headers.get('Content-Type') || '';
    return resp.text().then(function (text) {
      if (/json/.test(type)) {
        try { var body = JSON.parse(text); return body.detail || body.error || text; } catch (err) { return text; }
      }
      if (/html/.test(type)) {  // an inert document: parsed, never shown or run
        var doc = new DOMParser().parseFromString(text, 'text/html'), p = doc.querySelector('p');
        return (p ? p.textContent : doc.body.textContent).trim();
      }
      return text || (resp.status + ' ' + resp.statusText);
    });
  }

  Atlas.saveBlob = function (blob, name) {
    var a = document.createElement('a');
    a.href = URL.createObjectURL(blob);
    a.download = name;
    a.hidden = true;
    document.body.appendChild(a);
    a.click();
    document.body.removeChild(a);
    setTimeout(function () { URL.revokeObjectURL(a.href); }, 60000);
  };

  /* Fetch ``url`` and save what comes; ``progress(received, total)`` as it streams (total 0 when the
   * server does not say). Resolves with {name, size}; rejects with the server's message. */
  Atlas.download = function (url, progress, fallbackName) {
    return fetch(url).then(function (resp) {
      if (!resp.ok) { return errorText(resp).then(function (detail) { throw new Error(detail); }); }
      var total = parseInt(resp.headers.get('Content-Length') || '0', 10) || 0;
      var name = Atlas.filenameFrom(resp.headers.get('Content-Disposition')) || fallbackName || 'weihai-atlas';
      var type = (resp.headers.get('Content-Type') || 'application/octet-stream').split(';')[0];
      var chunks = [], received = 0;
      progress(0, total);
      var finish = function () {
        var blob = new Blob(chunks, {type: type});
        Atlas.saveBlob(blob, name);
        return {name: name, size: blob.size};
      };
      if (!resp.body || !resp.body.getReader) {
        return resp.blob().then(function (blob) { chunks = [blob]; progress(blob.size, total); return finish(); });
      }
      var reader = resp.body.getReader();
      var pump = function () {
        return reader.read().then(function (step) {
          if (step.done) { return finish(); }
          chunks.push(step.value);
          received += step.value.length;
          progress(received, total);
          return pump();
        });
      };
      return pump();
    });
  };
}());
