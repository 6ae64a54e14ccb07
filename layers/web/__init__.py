"""The Flask glue of ``layers``: the one subpackage of ``layers`` that may import Flask (accounts,
sessions, CSRF, security headers, the accounts API and command line)."""
