"""Gradebook, feedback pages and Gradescope results, each written atomically."""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from pathlib import Path


def atomic_write(path: Path, data: str | bytes, mode: int = 0o644) -> None:
    """Write ``path`` so that readers see the old file or the new one, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix="." + path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _fmt(x: float) -> str:
    return f"{x:g}" if abs(x - round(x, 2)) < 1e-9 else f"{x:.2f}"


def gradebook_csv(results: list[dict], part_ids: list[str]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["id", "file", "status", "reason", "total", "max", *part_ids, "isolation"])
    for r in sorted(results, key=lambda r: r["id"]):
        pts = {p["grade_id"]: p["points"] for p in r["parts"]}
        w.writerow([r["id"], r.get("file", ""), r["status"], r["reason"], _fmt(r["total"]), _fmt(r["max"]),
                    *[_fmt(pts.get(g, 0.0)) for g in part_ids], r["isolation"]])
    return buf.getvalue()


def _md_escape(s: str) -> str:
    return str(s).replace("|", "\\|").replace("\n", " ").replace("`", "'")


def feedback_md(r: dict, assignment: str) -> str:
    lines = [f"# Feedback: {r['id']}", "",
             f"Assignment **{assignment}** · total **{_fmt(r['total'])} / {_fmt(r['max'])}** · "
             f"status `{r['status']}`" + (f" — {_md_escape(r['reason'])}" if r["reason"] else ""), ""]
    if r.get("isolation"):
        lines += [f"Graded in a sandbox, isolation level `{r['isolation']}`.", ""]
    if r["status"] == "invalid_notebook":
        lines += ["Your file could not be graded: " + _md_escape(r["reason"]) + ".",
                  "Submit the `.ipynb` notebook you worked in (File → Save, then upload that file).", ""]
    lines += ["| Part | Check cell | Points |", "|---|---|---|"]
    for p in r["parts"]:
        lines.append(f"| {p['number']} | `{p['grade_id']}` | {_fmt(p['points'])} / {_fmt(p['max'])} |")
    lines.append("")
    for p in r["parts"]:
        lines.append(f"## Part {p['number']}: `{p['grade_id']}` — {_fmt(p['points'])} / {_fmt(p['max'])}")
        lines.append("")
        for note in p.get("notes", []):
            lines.append(f"- **Note:** {_md_escape(note)}")
        hidden_n = 0
        for c in p.get("checks", []):
            mark = "PASS" if c["passed"] else "FAIL"
            if c["hidden"]:
                hidden_n += 1
                lines.append(f"- {mark} — hidden check {hidden_n}")
            else:
                lines.append(f"- {mark} — {_md_escape(c['name'])}: expected {_md_escape(c['expected'])}; "
                             f"found {_md_escape(c['found'])}")
        lines.append("")
    if r.get("manual"):
        lines += ["## Graded by hand", ""]
        lines += [f"- `{m}`: not scored automatically; your instructor grades it." for m in r["manual"]]
        lines.append("")
    if r.get("notes"):
        lines += ["## Notes", ""] + [f"- {_md_escape(n)}" for n in r["notes"]] + [""]
    return "\n".join(lines)


def gradescope_json(r: dict) -> str:
    tests = []
    for p in r["parts"]:
        out = []
        out += [f"Note: {n}" for n in p.get("notes", [])]
        hidden_n = 0
        for c in p.get("checks", []):
            mark = "PASS" if c["passed"] else "FAIL"
            if c["hidden"]:
                hidden_n += 1
                out.append(f"{mark}: hidden check {hidden_n}")
            else:
                out.append(f"{mark}: {c['name']}: expected {c['expected']}; found {c['found']}")
        tests.append({
            "name": f"Part {p['number']}: {p['grade_id']}",
            "number": str(p["number"]),
            "score": round(p["points"], 4),
            "max_score": p["max"],
            "output": "\n".join(out),
            "visibility": "visible",
        })
    summary = f"Status: {r['status']}" + (f" ({r['reason']})" if r["reason"] else "")
    if r.get("manual"):
        summary += "\nGraded by hand later: " + ", ".join(r["manual"])
    doc = {
        "score": round(r["total"], 4),
        "output": summary,
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
    }
    return json.dumps(doc, indent=2)
