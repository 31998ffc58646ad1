"""`encryption:`: encryption at rest of the workspace (DuckDB) and a SQLite serving store (SQLCipher).

The key itself never appears in hub.yaml: it comes from $HUB_ENCRYPTION_KEY or from the file `key_file` names
(hub.encryption reads and checks it). `duckdb_crypto` says which AES-GCM implementation DuckDB writes with:
`openssl` needs DuckDB's httpfs extension installed on the machine (it is loaded from the local extension
directory, never downloaded); `builtin` is DuckDB's own mbedtls module, which draws its nonces from a
non-cryptographic generator (DuckDB calls it `force_mbedtls_unsafe`): the file is unreadable without the key,
but GCM's guarantees weaken if a nonce ever repeats. It has to be chosen on purpose.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from hub.config.base import Strict


class EncryptionConfig(Strict):
    enabled: bool = True
    key_file: Path | None = None
    duckdb_crypto: Literal["openssl", "builtin"] = "openssl"
