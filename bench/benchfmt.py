"""benchfmt.py - number parsing and formatting shared by summarize.py and
routing_summary.py ("–" stands for unknown)."""
import statistics


def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def fmt_int(x):
    if x is None:
        return "–"
    return "{:,}".format(int(round(x))).replace(",", " ")


def fmt_f(x, digits=1):
    if x is None:
        return "–"
    if abs(x) >= 100:
        return "%.0f" % x
    return "%.*f" % (digits, x)


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def span(xs, f):
    """median [min–max] of the known values, formatted with f"""
    xs = [x for x in xs if x is not None]
    if not xs:
        return "–"
    if len(xs) == 1:
        return f(xs[0])
    return "%s [%s–%s]" % (f(statistics.median(xs)), f(min(xs)), f(max(xs)))
