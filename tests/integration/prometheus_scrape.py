"""A small reader of Prometheus' text exposition format, for the tests that compare pgha's
/metrics with HAProxy's and Patroni's: families with their TYPE, samples with their labels."""
import re
import urllib.request

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?:\{(.*)\})?\s+(\S+)$')
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?')


def parse(text):
    """Returns (types, samples): {family: type} and a list of (name, {label: value}, float).
    Accepts Patroni 3.0's one malformed line (a space between a name and its labels)."""
    types, samples = {}, []
    for line in text.splitlines():
        if not line.strip():
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(None, 3)
            types[name] = kind.strip()
            continue
        if line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        labels = {}
        rest = m.group(2) or ""
        pos = 0
        while pos < len(rest):
            lm = _LABEL.match(rest, pos)
            assert lm, f"bad labels in {line!r}"
            labels[lm.group(1)] = bytes(lm.group(2), "utf-8").decode("unicode_escape")
            pos = lm.end()
        samples.append((m.group(1), labels, float(m.group(3))))
    return types, samples


def scrape(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as reply:
        assert reply.status == 200, f"{url}: {reply.status}"
        return parse(reply.read().decode())


def value(samples, name, **labels):
    """The one sample of `name` whose labels include `labels`; None when there is none."""
    found = [v for n, ls, v in samples if n == name and all(ls.get(k) == w for k, w in labels.items())]
    assert len(found) <= 1, f"{name} {labels}: {len(found)} samples"
    return found[0] if found else None
