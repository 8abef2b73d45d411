"""justext's stoplist of every language, built once for the extraction workers to share."""

from __future__ import annotations

import justext.core
import justext.utils
from trafilatura import external

from crawler.engine.extract import share_stoplist


def test_the_shared_stoplist_is_the_one_justext_would_make_and_is_handed_back_as_it_is(monkeypatch):
    monkeypatch.setattr(justext.core, "define_stoplist", justext.core.define_stoplist)  # restored after
    monkeypatch.setattr(external, "JT_STOPLIST", external.JT_STOPLIST)
    copying = justext.core.define_stoplist
    expected = copying(tuple(external.jt_stoplist_init()))  # what trafilatura and justext made before

    share_stoplist()
    shared = external.JT_STOPLIST
    assert isinstance(shared, frozenset) and shared == expected and len(shared) > 100_000
    assert justext.core.define_stoplist(shared) is shared, "not copied again (nor hashed whole) per page"
    english = justext.utils.get_stoplist("English")
    assert justext.core.define_stoplist(english) == copying(english), "any other stoplist as before"
    justext.core.define_stoplist.cache_clear()  # trafilatura's reset_caches still finds what it calls

    share_stoplist()  # a second call (a second pool in the same fork server) changes nothing
    assert external.JT_STOPLIST is shared
