"""Data-subject requests (GDPR/CCPA): show, export, rectify, erase and restrict everything the hub holds about a
person, each request logged without the person's data. `hub subject ...` and /v1/subjects call these same
functions; what needs the source systems (erasure actions) comes in from the composition root.

find      who a request is about (by golden id, source record or e-mail)
show      the report of everything held, as JSON or a zip of CSVs
erase     erasure in every hub-owned store, the sources' actions, the suppression list
restrict  restriction (and its lifting) and rectification
keyed     the privacy key and keyed hashes;  suppress: the suppression list at work in a pull
workspace the person in the workspace;  log: the request log;  open: the workspace for one request
"""

from hub.subjects.erase import EraseInSource, Erasure, erase
from hub.subjects.find import BadSubject, Subject, SubjectNotFound, SubjectRef
from hub.subjects.keyed import KEY_ENV, MissingKey
from hub.subjects.log import api_user, cli_user, requests
from hub.subjects.restrict import RectifyRefused, rectify, restrict
from hub.subjects.show import SECTIONS, show, to_zip
from hub.subjects.suppress import ERASED_REASON

__all__ = [
    "ERASED_REASON",
    "KEY_ENV",
    "SECTIONS",
    "BadSubject",
    "EraseInSource",
    "Erasure",
    "MissingKey",
    "RectifyRefused",
    "Subject",
    "SubjectNotFound",
    "SubjectRef",
    "api_user",
    "cli_user",
    "erase",
    "rectify",
    "requests",
    "restrict",
    "show",
    "to_zip",
]
