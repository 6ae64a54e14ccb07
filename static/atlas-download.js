/* 精致威海规划图 — downloads: fetched, streamed with progress, saved under the server's file name
 * (Content-Disposition); a refused one rejects with the server's message, read as text only.
 * Export jobs (Atlas.exportJobs): started with POST /api/exports, followed until their file is
 * ready, then downloaded; the running one is remembered in localStorage, so a reloaded page
 * resumes it (without localStorage jobs still run, only the resume is lost). */
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
  // (An Error of it carries the HTTP status as .status; a network failure has none.)
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

  function refused(resp) {
    return errorText(resp).then(function (detail) {
      var err = new Error(detail);
      err.status = resp.status;
      throw err;
    });
  }

  function getJson(url, options) {
    return fetch(url, L.extend({cache: 'no-store'}, options)).then(function (resp) {
      return resp.ok ? resp.json() : refused(resp);
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
      if (!resp.ok) { return refused(resp); }
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

  // -- export jobs ----------------------------------------------------------------------------------
  var JOB_KEY = 'atlas-export-job';
  var POLL_MS = 500;      // how often a running job is asked for its progress
  var STALE_MS = 3000;    // a stored job whose page has not polled it for this long is free to resume
  var RETRIES = 6;        // network failures or 5xx answers in a row before a poll gives up
  var JOB_ID = /^[A-Za-z0-9_-]{16}$/;
  var me = Math.random().toString(36).slice(2);  // this page, as the owner of the stored job
  var leaving = false;

  // The stored job {id, url, started, owner, beat}, or null: localStorage may be missing or refuse.
  function readJob() {
    try {
      var rec = JSON.parse(window.localStorage.getItem(JOB_KEY) || 'null');
      // only a job of ours: a valid id and a path on this server
      return rec && JOB_ID.test(rec.id) && typeof rec.url === 'string' && /^\/(?!\/)/.test(rec.url) ? rec : null;
    } catch (err) { return null; }
  }
  function writeJob(rec) {
    try { window.localStorage.setItem(JOB_KEY, JSON.stringify(rec)); } catch (err) { /* no resume, that is all */ }
  }
  function forgetJob(id) {
    var rec = readJob();
    if (!rec || rec.id !== id) { return; }
    try { window.localStorage.removeItem(JOB_KEY); } catch (err) { /* nothing stored */ }
  }
  // This page follows ``rec``: it says so at each poll, so another page does not download it too.
  function claim(rec) {
    if (leaving) { return; }
    writeJob({id: rec.id, url: rec.url, started: rec.started, owner: me, beat: Date.now()});
  }
  // Leaving (reload, close, another address): the job is free for the next page at once.
  window.addEventListener('pagehide', function () {
    leaving = true;
    var rec = readJob();
    if (rec && rec.owner === me) { rec.owner = null; writeJob(rec); }
  });
  window.addEventListener('pageshow', function (e) { if (e.persisted) { leaving = false; } });

  /* Poll the job ``rec`` until it is done, then download its file. ``onJob(job)`` at each answer,
   * ``onBytes(received, total)`` as the file streams. Resolves with {name, size}; rejects with the
   * server's message (.status the HTTP status, .job a failed job). The stored job is forgotten once
   * it is settled: saved, failed, gone or refused; after a network failure it stays, for a reload. */
  function follow(rec, onJob, onBytes) {
    var misses = 0;
    return new Promise(function (resolve, reject) {
      function poll() {
        getJson(rec.url).then(function (job) {
          misses = 0;
          onJob(job);
          if (job.state === 'running') { claim(rec); setTimeout(poll, POLL_MS); return; }
          if (job.state === 'done' && job.download) { resolve(job); return; }
          var err = new Error(job.detail || job.state);
          err.job = job;
          reject(err);
        }).catch(function (err) {
          if ((!err.status || err.status >= 500) && ++misses < RETRIES && !leaving) {
            setTimeout(poll, POLL_MS * Math.pow(2, misses));  // a blip: ask again, more slowly
            return;
          }
          reject(err);
        });
      }
      poll();
    }).then(function (job) {
      return Atlas.download(job.download, onBytes, job.filename_utf8 || job.filename || undefined);
    }).then(function (saved) {
      forgetJob(rec.id);
      return saved;
    }, function (err) {
      if ((err.status || err.job) && !leaving) { forgetJob(rec.id); }
      throw err;
    });
  }

  Atlas.exportJobs = {
    key: JOB_KEY,
    stored: readJob,
    /* Start an export of ``params`` (those of GET /api/export) as a job and follow it (see follow).
     * A refused start (400, 429) rejects with the server's message; nothing is stored then. */
    run: function (params, onJob, onBytes) {
      var headers = {'Content-Type': 'application/json'};  // with the session's CSRF token, as every change
      if (Atlas.session && Atlas.session.csrf_token) { headers['X-CSRFToken'] = Atlas.session.csrf_token; }
      return getJson(Atlas.apiUrl('exports'), {method: 'POST', headers: headers, body: JSON.stringify(params)}).then(function (job) {
        var rec = {id: job.id, url: job.url, started: Date.now()};
        claim(rec);
        onJob(job);
        return follow(rec, onJob, onBytes);
      });
    },
    // Follow a stored job (one a page left running): as run, once started.
    resume: follow,
    /* ``fn(rec)`` with the job a page left running, once no other open page follows it (at once,
     * or when that page has gone quiet); never if there is none. */
    whenPending: function whenPending(fn) {
      var rec = readJob();
      if (!rec) { return; }
      if (rec.owner && rec.owner !== me && Date.now() - (rec.beat || 0) < STALE_MS) {
        setTimeout(function () { whenPending(fn); }, STALE_MS);
        return;
      }
      claim(rec);
      fn(rec);
    }
  };
}());
