"""The import inspector's Flask-free core: what an uploaded file is before anything is stored —
its text encoding (encoding), its coordinate system (crs_guess) and whether it is safe to open
(safety). dbf reads a .dbf's header and raw bytes for the encoding check."""
from __future__ import annotations

from .crs_guess import CANDIDATES, Candidate, CRSGuess, DeclaredCheck, Scored, guess_crs
from .dbf import DbfField, DbfHeader, read_header
from .encoding import EncodingGuess, Evidence, Preview, StrictDecode, detect_dbf, detect_text
from .encoding import normalise as normalise_encoding
from .safety import ArchiveLimits, Member, check_xml, check_zip, extract_zip, member_name, parse_xml

__all__ = [
    "CANDIDATES", "Candidate", "CRSGuess", "DeclaredCheck", "Scored", "guess_crs",
    "DbfField", "DbfHeader", "read_header",
    "EncodingGuess", "Evidence", "Preview", "StrictDecode", "detect_dbf", "detect_text", "normalise_encoding",
    "ArchiveLimits", "Member", "check_xml", "check_zip", "extract_zip", "member_name", "parse_xml",
]
