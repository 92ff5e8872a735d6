#!/usr/bin/env python3
"""Renders rustdoc JSON (format 57) as a sorted list of public items, one a
line, with signatures: the public API snapshot of scripts/public-api.sh.

Usage: public-api.py CRATE.json...
"""
import json
import sys


def ty(t):
    if t is None:
        return "()"
    if not isinstance(t, dict):
        return str(t)
    (kind, v), = t.items()
    if kind == "resolved_path":
        return v["path"] + args(v.get("args"))
    if kind == "generic":
        return v
    if kind == "primitive":
        return v
    if kind == "borrowed_ref":
        lt = (v["lifetime"] + " ") if v.get("lifetime") else ""
        return "&" + lt + ("mut " if v["is_mutable"] else "") + ty(v["type"])
    if kind == "raw_pointer":
        return "*" + ("mut " if v["is_mutable"] else "const ") + ty(v["type"])
    if kind == "slice":
        return "[" + ty(v) + "]"
    if kind == "array":
        return "[" + ty(v["type"]) + "; " + str(v["len"]) + "]"
    if kind == "tuple":
        return "(" + ", ".join(ty(x) for x in v) + ")"
    if kind == "dyn_trait":
        parts = [t["trait"]["path"] + args(t["trait"].get("args")) for t in v["traits"]]
        if v.get("lifetime"):
            parts.append(v["lifetime"])
        return "dyn " + " + ".join(parts)
    if kind == "impl_trait":
        return "impl " + " + ".join(bound(b) for b in v)
    if kind == "qualified_path":
        tr = v.get("trait")
        if tr:
            return "<" + ty(v["self_type"]) + " as " + tr["path"] + ">::" + v["name"]
        return ty(v["self_type"]) + "::" + v["name"]
    if kind == "function_pointer":
        sig = v["sig"]
        return "fn(" + ", ".join(ty(i[1]) for i in sig["inputs"]) + ")" + ret(sig["output"])
    if kind == "infer":
        return "_"
    return kind


def args(a):
    if not a:
        return ""
    if "angle_bracketed" in a:
        ab = a["angle_bracketed"]
        out = []
        for x in ab.get("args", []):
            (k, v), = x.items()
            out.append(ty(v) if k == "type" else str(v) if k == "lifetime" else "_")
        for c in ab.get("constraints", []):
            b = c.get("binding", {})
            if "equality" in b:
                eq = b["equality"]
                out.append(c["name"] + " = " + ty(eq.get("type", eq)))
            else:
                out.append(c["name"] + ": " + " + ".join(bound(x) for x in b.get("constraint", [])))
        return "<" + ", ".join(out) + ">" if out else ""
    if "parenthesized" in a:
        p = a["parenthesized"]
        return "(" + ", ".join(ty(i) for i in p["inputs"]) + ")" + ret(p.get("output"))
    return ""


def ret(o):
    return "" if o is None else " -> " + ty(o)


def bound(b):
    if "trait_bound" in b:
        tb = b["trait_bound"]
        m = "?" if tb.get("modifier") == "maybe" else ""
        return m + tb["trait"]["path"] + args(tb["trait"].get("args"))
    if "outlives" in b:
        return b["outlives"]
    return "?"


def generics(g):
    ps = []
    for p in g.get("params", []):
        k = p["kind"]
        if "lifetime" in k:
            ps.append(p["name"])
        elif "type" in k:
            if k["type"].get("is_synthetic"):
                continue
            bs = k["type"].get("bounds", [])
            ps.append(p["name"] + (": " + " + ".join(bound(b) for b in bs) if bs else ""))
        elif "const" in k:
            ps.append("const " + p["name"] + ": " + ty(k["const"]["type"]))
    where = []
    for w in g.get("where_predicates", []):
        if "bound_predicate" in w:
            bp = w["bound_predicate"]
            where.append(ty(bp["type"]) + ": " + " + ".join(bound(b) for b in bp["bounds"]))
    return ("<" + ", ".join(ps) + ">" if ps else ""), (" where " + ", ".join(where) if where else "")


def fn(name, f):
    sig = f["sig"]
    h = f["header"]
    pre = ("const " if h["is_const"] else "") + ("async " if h["is_async"] else "") + (
        "unsafe " if h["is_unsafe"] else "")
    gp, wh = generics(f["generics"])
    ins = []
    for n, t in sig["inputs"]:
        if n == "self":
            s = ty(t)
            ins.append({"Self": "self", "&Self": "&self", "&mut Self": "&mut self"}.get(s, "self: " + s))
        else:
            ins.append(n + ": " + ty(t))
    return pre + "fn " + name + gp + "(" + ", ".join(ins) + ")" + ret(sig["output"]) + wh


def main():
    out = set()
    for path in sys.argv[1:]:
        d = json.load(open(path))
        index = d["index"]
        root = index[str(d["root"])]
        crate = root["name"]
        seen = set()
        public_mods = set()

        def mods(i, prefix):
            it = index[str(i)]
            m = it["inner"].get("module")
            if m is None or (prefix and it["visibility"] != "public"):
                return
            full = prefix + "::" + it["name"] if prefix else it["name"]
            public_mods.add(full)
            for c in m["items"]:
                mods(c, full)

        mods(d["root"], "")

        def item(i, prefix):
            it = index.get(str(i))
            if it is None:
                return
            inner = it["inner"]
            (kind, v), = inner.items()
            name = it.get("name")
            if kind == "use":
                target = v.get("id")
                canon = d["paths"].get(str(target), {}).get("path") or []
                if (target is not None and str(target) in index and not v.get("is_glob")
                        and "::".join(canon[:-1]) not in public_mods):
                    # The documented home of an item of a private module.
                    item(target, prefix)
                else:
                    out.add("pub use " + prefix + "::" + ("*" if v.get("is_glob") else v["name"])
                            + " = " + v["source"])
                return
            if it["visibility"] != "public" and kind not in ("variant", "struct_field") and not prefix.endswith(">"):
                return
            full = (prefix + "::" + name if prefix else name) if name else prefix
            if kind == "module":
                if (full, i) in seen:
                    return
                seen.add((full, i))
                out.add("pub mod " + full)
                for c in v["items"]:
                    item(c, full)
            elif kind in ("struct", "enum", "union", "trait"):
                if (full, i) in seen:
                    return
                seen.add((full, i))
                gp, wh = generics(v["generics"])
                if kind == "trait":
                    bs = v.get("bounds", [])
                    out.add("pub trait " + full + gp + (": " + " + ".join(bound(b) for b in bs) if bs else "") + wh)
                    for m in v["items"]:
                        mi = index[str(m)]
                        (mk, mv), = mi["inner"].items()
                        if mk == "function":
                            dflt = " { default }" if mv.get("has_body") else ""
                            out.add("trait " + full + ": " + fn(mi["name"], mv) + dflt)
                        elif mk == "assoc_type":
                            out.add("trait " + full + ": type " + mi["name"])
                        elif mk == "assoc_const":
                            out.add("trait " + full + ": const " + mi["name"])
                    for imp in v.get("implementations", []):
                        ii = index.get(str(imp))
                        if ii and not ii["inner"]["impl"].get("is_synthetic"):
                            out.add("impl " + full + " for " + ty(ii["inner"]["impl"]["for"]))
                    return
                attrs = " ".join(a if isinstance(a, str) else json.dumps(a) for a in it.get("attrs", []))
                ne = " #[non_exhaustive]" if "non_exhaustive" in attrs else ""
                out.add("pub " + kind + " " + full + gp + wh + ne)
                if kind == "struct":
                    sk = v["kind"]
                    if "plain" in sk:
                        for f in sk["plain"]["fields"]:
                            fi = index[str(f)]
                            if fi["visibility"] == "public":
                                out.add("pub field " + full + "::" + fi["name"] + ": " + ty(fi["inner"]["struct_field"]))
                    elif "tuple" in sk:
                        fs = [ty(index[str(f)]["inner"]["struct_field"]) if f is not None and index[str(f)]["visibility"] == "public" else "_" for f in sk["tuple"]]
                        out.add("pub tuple " + full + "(" + ", ".join(fs) + ")")
                if kind == "enum":
                    for var in v["variants"]:
                        vi = index[str(var)]
                        vk = vi["inner"]["variant"]["kind"]
                        desc = ""
                        if isinstance(vk, dict) and "tuple" in vk:
                            desc = "(" + ", ".join(ty(index[str(f)]["inner"]["struct_field"]) if f is not None else "_" for f in vk["tuple"]) + ")"
                        elif isinstance(vk, dict) and "struct" in vk:
                            desc = " { " + ", ".join(index[str(f)]["name"] + ": " + ty(index[str(f)]["inner"]["struct_field"]) for f in vk["struct"]["fields"]) + " }"
                        out.add("variant " + full + "::" + vi["name"] + desc)
                for imp in v.get("impls", []):
                    ii = index.get(str(imp))
                    if not ii:
                        continue
                    im = ii["inner"]["impl"]
                    if im.get("is_synthetic") or im.get("blanket_impl") is not None:
                        continue
                    tr = im.get("trait")
                    if tr:
                        out.add("impl " + tr["path"] + args(tr.get("args")) + " for " + full)
                        continue
                    for m in im["items"]:
                        mi = index[str(m)]
                        if mi["visibility"] != "public":
                            continue
                        (mk, mv), = mi["inner"].items()
                        if mk == "function":
                            out.add("impl " + full + ": pub " + fn(mi["name"], mv))
                        elif mk == "assoc_const":
                            out.add("impl " + full + ": pub const " + mi["name"] + ": " + ty(mv["type"]))
            elif kind == "function":
                out.add("pub " + fn(full, v))
            elif kind == "constant":
                out.add("pub const " + full + ": " + ty(v["type"]))
            elif kind == "static":
                out.add("pub static " + full + ": " + ty(v["type"]))
            elif kind == "type_alias":
                out.add("pub type " + full + " = " + ty(v["type"]))
            elif kind in ("macro", "proc_macro"):
                out.add("pub macro " + full)

        item(d["root"], "")
    for line in sorted(out):
        if not line.startswith("impl StructuralPartialEq"):
            print(line)


main()
