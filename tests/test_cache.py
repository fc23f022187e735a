"""The one bounded cache: least recently used out first, atomic under threads."""

import threading

from rag.cache import LRU, Memo


def test_the_least_recently_used_entry_goes_first():
    c: LRU[str, int] = LRU(2)
    c.put("a", 1)
    c.put("b", 2)
    assert c.get("a") == 1  # now "b" is the least recently used
    c.put("c", 3)
    assert len(c) == 2 and c.get("b") is None and c.get("a") == 1 and c.get("c") == 3
    assert c.get("b", "gone") == "gone"
    c.clear()
    assert len(c) == 0


def test_a_memo_remembers_none_and_stays_bounded():
    calls = []

    def fn(x):
        calls.append(x)
        return None if x % 2 else x

    m = Memo(fn, 3)
    assert [m(i) for i in (1, 2, 1, 2)] == [None, 2, None, 2] and calls == [1, 2]
    for i in range(10):
        m(i)
    assert len(m._cache) == 3


def test_many_threads_never_overfill_it():
    c: LRU[int, int] = LRU(100)

    def work(base):
        for i in range(2000):
            c.put(base + i, i)
            c.get(base + i // 2)

    threads = [threading.Thread(target=work, args=(k * 10_000,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(c) == 100
