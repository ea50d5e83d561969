"""Checks every DllCall to lifeline.dll in the AutoIt examples against lifeline.h.

AutoIt does not run on Linux, so the examples are checked, not run: each
DllCall's function must be declared in lifeline.h, with as many arguments, each
of an AutoIt type that passes that C type on x64, the return type likewise, and
":cdecl" (lifeline's convention, which matters to 32-bit AutoIt). A call into
another DLL (msvcrt's strlen) is left alone. Exit 0 when all agree.

    check_autoit.py include/lifeline/lifeline.h examples/autoit/*.au3
"""
import re
import sys

# C type (normalised) -> the AutoIt DllCall types that pass it.
COMPATIBLE = {
    "int": {"int", "long"},
    "void": {"none"},
    "const char*": {"str", "struct*", "ptr"},
    "const void*": {"struct*", "ptr"},
    "void*": {"ptr"},
    "ll_client*": {"ptr", "handle"},
    "ll_server*": {"ptr", "handle"},
    "ll_event*": {"ptr"},
    "const ll_event*": {"ptr"},
    "ll_client**": {"ptr*"},
    "ll_server**": {"ptr*"},
    "ll_event**": {"ptr*"},
    "ll_event_fn": {"ptr"},
    "int*": {"int*", "long*"},
    "int64_t": {"int64"},
    "int64_t*": {"int64*"},
    "uint32_t": {"uint", "dword", "ulong"},
    "size_t": {"ulong_ptr", "uint_ptr"},
    "size_t*": {"ulong_ptr*", "uint_ptr*"},
    "intptr_t*": {"long_ptr*", "int_ptr*", "handle*"},
}


def norm(ctype):
    t = re.sub(r"\s+", " ", ctype.strip())
    t = re.sub(r"\s*\*", "*", t)
    return t


def declarations(header):
    """name -> (return type, [parameter types]) for every LL_API function."""
    text = re.sub(r"/\*.*?\*/", " ", open(header).read(), flags=re.S)
    decls = {}
    for m in re.finditer(r"LL_API\s+([^;(]*?)\b(ll_\w+)\s*\(([^)]*)\)\s*;", text):
        ret, name, params = norm(m.group(1)), m.group(2), m.group(3).strip()
        types = []
        if params and params != "void":
            for p in params.split(","):
                p = norm(p)
                # drop the parameter's name: the last identifier not part of the type
                types.append(norm(re.sub(r"\b\w+$", "", p)) if re.search(r"[\w*]\s*\w+$", p) else p)
        decls[name] = (ret, types)
    return decls


def split_args(s):
    """Top-level comma split of an AutoIt argument list (quotes and brackets respected)."""
    out, depth, cur, quote = [], 0, "", None
    for ch in s:
        if quote:
            cur += ch
            if ch == quote:
                quote = None
            continue
        if ch in "\"'":
            quote = ch
        elif ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
            continue
        cur += ch
    if cur.strip():
        out.append(cur.strip())
    return out


def dllcalls(path):
    """(line, [arguments]) for each DllCall( ... ) in a script, continuations joined."""
    src = open(path, encoding="utf-8").read().replace(" _\n", " ")
    for lineno, line in enumerate(src.splitlines(), 1):
        for m in re.finditer(r"\bDllCall\s*\(", line):
            depth, i = 1, m.end()
            quote = None
            while i < len(line) and depth:
                ch = line[i]
                if quote:
                    quote = None if ch == quote else quote
                elif ch in "\"'":
                    quote = ch
                elif ch == "(":
                    depth += 1
                elif ch == ")":
                    depth -= 1
                i += 1
            yield lineno, split_args(line[m.end():i - 1])


def unquote(s):
    return s[1:-1] if len(s) >= 2 and s[0] == s[-1] and s[0] in "\"'" else None


def check_file(path, decls, problems):
    n = 0
    for lineno, args in dllcalls(path):
        where = "%s:%d" % (path, lineno)
        if len(args) < 3 or unquote(args[1]) is None or unquote(args[2]) is None:
            problems.append("%s: DllCall with a computed return type or function name" % where)
            continue
        fn = unquote(args[2])
        if not fn.startswith("ll_"):
            continue  # another DLL (msvcrt.dll's strlen)
        n += 1
        if fn not in decls:
            problems.append("%s: %s is not declared in lifeline.h" % (where, fn))
            continue
        ret, params = decls[fn]
        rtype = unquote(args[1]).lower()
        if not rtype.endswith(":cdecl"):
            problems.append("%s: %s: return type %r lacks :cdecl" % (where, fn, rtype))
        rtype = rtype.split(":")[0]
        if rtype not in COMPATIBLE.get(ret, set()):
            problems.append("%s: %s returns %s, called as %r" % (where, fn, ret, rtype))
        pairs = args[3:]
        if len(pairs) % 2:
            problems.append("%s: %s: a type without a value" % (where, fn))
            continue
        types = [unquote(pairs[i]) for i in range(0, len(pairs), 2)]
        if len(types) != len(params):
            problems.append("%s: %s takes %d arguments, called with %d" % (where, fn, len(params), len(types)))
            continue
        for k, (want, got) in enumerate(zip(params, types)):
            if got is None or got.lower() not in COMPATIBLE.get(want, set()):
                problems.append("%s: %s argument %d is %s, passed as %r" % (where, fn, k + 1, want, got))
    return n


# Mistakes the check must catch (run with --self-test): a wrong count, a
# wrong type, a missing :cdecl, a function that does not exist.
BAD_SAMPLE = """
$a = DllCall($h, "int:cdecl", "ll_client_stop", "ptr", $c)
$a = DllCall($h, "int:cdecl", "ll_client_send", "ptr", $c, "str", $s, "int", 3)
$a = DllCall($h, "int", "ll_client_start", "ptr", $c)
$a = DllCall($h, "int:cdecl", "ll_client_frobnicate", "ptr", $c)
"""


def self_test(header):
    import tempfile
    with tempfile.NamedTemporaryFile("w", suffix=".au3", delete=False) as f:
        f.write(BAD_SAMPLE)
    problems = []
    check_file(f.name, declarations(header), problems)
    want = ["takes 2 arguments, called with 1", "argument 3 is size_t, passed as 'int'", "lacks :cdecl",
            "ll_client_frobnicate is not declared"]
    missed = [w for w in want if not any(w in p for p in problems)]
    print("self-test: %s" % ("FAIL, not caught: %s" % missed if missed else "all %d mistakes caught" % len(want)))
    return 1 if missed else 0


def main(argv):
    if len(argv) == 3 and argv[2] == "--self-test":
        return self_test(argv[1])
    decls = declarations(argv[1])
    if len(decls) < 30:
        print("FAIL: only %d declarations parsed from %s" % (len(decls), argv[1]))
        return 1
    problems, total, used = [], 0, set()
    for path in argv[2:]:
        total += check_file(path, decls, problems)
        used |= {unquote(a[2]) for _, a in dllcalls(path) if len(a) > 2 and unquote(a[2])}
    for p in problems:
        print("FAIL " + p)
    if total == 0:
        print("FAIL: no DllCall to lifeline found")
        return 1
    print("%d DllCalls to %d lifeline functions checked against %d declarations: %s" % (
        total, len(used & set(decls)), len(decls), "all agree" if not problems else "%d problems" % len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
