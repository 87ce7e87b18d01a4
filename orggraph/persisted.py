"""Persisted documents: a request may name its document by hash instead of sending it.

* Automatic persisted queries (Apollo's protocol, what ``@apollo/client``'s
  persisted-queries link and others speak): the client sends
  ``extensions.persistedQuery = {"version": 1, "sha256Hash": H}`` without ``query``;
  an unknown hash is answered with ``PERSISTED_QUERY_NOT_FOUND``, and the client sends
  the document with its hash once, which registers it (bounded LRU,
  ``ORGGRAPH_APQ_CACHE_SIZE``). A document whose hash is not ``H`` is refused.
* Trusted documents (``ORGGRAPH_TRUSTED_DOCUMENTS=FILE``): only the documents of the
  manifest run, by hash or in full (``PERSISTED_QUERY_NOT_IN_LIST`` otherwise). The
  manifest is JSON, either ``{hash: document}`` (GraphQL Code Generator's client
  preset, ``persisted-documents.json``) or Apollo's persisted query manifest
  (``{"format": "apollo-persisted-query-manifest", "operations": [{"id", "body"}]}``).
  Hashes are the SHA-256 of the document text, in hex; ``sha256:`` prefixes are accepted.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from orggraph.errors import (
    BadInputError,
    PersistedQueryNotFoundError,
    PersistedQueryNotInListError,
)

APQ_VERSION = 1


def document_hash(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


def _bare(hash_: str) -> str:
    return hash_.removeprefix("sha256:").lower()


def read_manifest(path: Path) -> dict[str, str]:
    """hash -> document from a manifest file (both formats), each hash checked."""
    try:
        raw: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        message = f"the trusted documents manifest {path} cannot be read: {error}"
        raise BadInputError(message) from error
    if isinstance(raw, dict) and isinstance(raw.get("operations"), list):
        pairs = [(str(op.get("id", "")), op.get("body")) for op in raw["operations"]]
    elif isinstance(raw, dict):
        pairs = list(raw.items())
    else:
        raise BadInputError(f"the trusted documents manifest {path} is not a JSON object")
    documents: dict[str, str] = {}
    for hash_, document in pairs:
        if not isinstance(document, str) or document_hash(document) != _bare(hash_):
            raise BadInputError(
                f"the trusted documents manifest {path} has an entry whose document does not "
                f"hash to its key {hash_!r}"
            )
        documents[_bare(hash_)] = document
    return documents


class PersistedDocuments:
    """Resolves the document of a request (see the module's docstring)."""

    def __init__(self, trusted: Mapping[str, str] | None, cache_size: int) -> None:
        self.trusted = dict(trusted) if trusted is not None else None
        self.cache_size = cache_size
        self._registered: OrderedDict[str, str] = OrderedDict()

    def resolve(self, query: str | None, extensions: Mapping[str, Any] | None) -> str | None:
        """The document to run; ``query`` itself when no hash is involved."""
        persisted = (extensions or {}).get("persistedQuery")
        if not isinstance(persisted, Mapping):
            return self._free_form(query)
        hash_ = persisted.get("sha256Hash")
        if persisted.get("version") != APQ_VERSION or not isinstance(hash_, str):
            raise BadInputError(
                "extensions.persistedQuery must be {version: 1, sha256Hash: <hex>}",
                field="extensions.persistedQuery",
            )
        hash_ = _bare(hash_)
        if query is None:
            return self._known(hash_)
        if document_hash(query) != hash_:
            raise BadInputError(
                "provided sha does not match query", field="extensions.persistedQuery"
            )
        return self._register(hash_, query)

    def _free_form(self, query: str | None) -> str | None:
        if self.trusted is None or query is None or document_hash(query) in self.trusted:
            return query
        raise PersistedQueryNotInListError(
            "this service runs trusted documents only, and this document is not one of them"
        )

    def _known(self, hash_: str) -> str:
        if self.trusted is not None:
            if hash_ in self.trusted:
                return self.trusted[hash_]
            raise PersistedQueryNotInListError(
                f"no trusted document has the hash {hash_}", sha256Hash=hash_
            )
        document = self._registered.get(hash_)
        if document is None:
            raise PersistedQueryNotFoundError("PersistedQueryNotFound", sha256Hash=hash_)
        self._registered.move_to_end(hash_)
        return document

    def _register(self, hash_: str, query: str) -> str:
        if self.trusted is not None:
            return self._free_form(query) or query
        if self.cache_size:
            self._registered[hash_] = query
            self._registered.move_to_end(hash_)
            while len(self._registered) > self.cache_size:
                self._registered.popitem(last=False)
        return query
