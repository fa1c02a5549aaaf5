"""edXML (QCVN 102:2016): the documents the hub carries, read, checked and written.

``model`` the values; ``reader`` the hardened streaming parser (stdlib expat); ``parse``
from its tree to the values; ``builder`` back to bytes; ``rules`` what the hub accepts;
``analysis`` the metadata recorded on seal.
"""
