#!/usr/bin/env python3
"""Generate the bundled sample's QA reviews (`data/sample/reviews_sample.csv`): what two analysts of
the QA team would have written after labelling an audit sample of the demo's data.

    qa-scoring demo --out /tmp/r            # a scored database of the bundled sample (./qa_scoring.duckdb)
    python data/generate_reviews.py --db qa_scoring.duckdb

Deterministic for a given database (a seeded `random.Random`; the pairs come from the project's
own seeded audit sample, `reviews.sample.draw_sample`). What is planted:
- six rules (and a seventh with few reviews), up to 50 interactions where the rule failed and 50 where it did not, each
  (the demo deals them between its two operations: each still has enough to judge a rule);
- reviewer `laura.gomez` labels every pair, `andres.pinto` every third one (the reviewers' own
  agreement is the ceiling a rule can reach);
- each reviewer disagrees with the rule on 3 % of the pairs at random (human noise), 16 % on
  `cierre_cordial` (read more loosely by people than by the rule: "acceptable");
- `presentacion_nombre` has only 12 reviewed pairs (too few to judge);
- `empatia_cliente_molesto` is too strict: on half of its failures both reviewers say the agent did
  show empathy in other words, so its agreement reads "revise" while the reviewers agree together;
- two rows the importer cannot match (an unknown case id, an unknown rule id), as real files have.
The file is the project's own review CSV (README, "Reviews and calibration"), verdicts written the
way Spanish-speaking analysts write them (`cumple` / `no cumple` / `n/a`).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
from pathlib import Path
from random import Random

import duckdb

from qa_scoring import outcomes
from qa_scoring.reviews.files import OWN_COLUMNS
from qa_scoring.reviews.sample import draw_sample

RULES = ("saludo_inicial", "cierre_cordial", "empatia_cliente_molesto", "ofrece_ayuda_adicional",
         "tipificacion_presente", "frases_cortantes")
TOO_STRICT = "empatia_cliente_molesto"
NOISIER = {"cierre_cordial": 0.16}  # reviewers read "a cordial close" more loosely than the rule
FEW = {"presentacion_nombre": 12}  # only a few reviews yet: the page must say "too few"
WORDS = {"pass": "cumple", "fail": "no cumple", "na": "n/a"}
NOTES = {
    TOO_STRICT: "Sí muestra empatía con otras palabras («entiendo su molestia»)",
    "noise": "Revisado en la calibración semanal",
}


def auto_outcome(letter: str) -> str:
    if letter in outcomes.FAILED_LETTERS:
        return "fail"
    return "pass" if letter == outcomes.PASSED else "na"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, type=Path, help="a scored database of the bundled sample")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "sample" / "reviews_sample.csv")
    parser.add_argument("--seed", type=int, default=20261124)
    args = parser.parse_args(argv)

    con = duckdb.connect(str(args.db), read_only=True)
    sampled = draw_sample(con, per_rule=100, seed=args.seed)
    drawn = [d for d in sampled if d[1] in RULES]
    for rule_id, k in FEW.items():
        drawn += [d for d in sampled if d[1] == rule_id][:k]
    info = dict((iid, (case_id, channel, created)) for iid, case_id, channel, created in con.execute(
        "SELECT interaction_id, case_id, channel, created_at FROM interactions").fetchall())
    last_day = max(created for _, _, created in info.values()).date()
    rnd = Random(args.seed)
    rows = []
    for n, (iid, rule_id, letter) in enumerate(drawn):
        case_id, channel, _created = info[iid]
        auto = auto_outcome(letter)
        planted = rule_id == TOO_STRICT and auto == "fail" and rnd.random() < 0.5
        for reviewer in ("laura.gomez", "andres.pinto") if n % 3 == 0 else ("laura.gomez",):
            verdict, note = auto, ""
            if planted:
                verdict, note = "pass", NOTES[TOO_STRICT]
            elif rnd.random() < NOISIER.get(rule_id, 0.03):
                verdict = {"pass": "fail", "fail": "pass", "na": "pass"}[auto]
                note = NOTES["noise"]
            day = last_day - dt.timedelta(days=rnd.randrange(0, 6))
            stamp = dt.datetime.combine(day, dt.time(9 + rnd.randrange(0, 8), rnd.randrange(0, 60)))
            rows.append({"case_id": case_id, "channel": channel, "interaction_id": "", "rule_id": rule_id,
                         "verdict": WORDS[verdict], "reviewer": reviewer,
                         "reviewed_at": stamp.strftime("%Y-%m-%d %H:%M:%S"), "note": note})
    stamp = f"{last_day} 17:30:00"
    rows.append({"case_id": "CASO-INEXISTENTE-1", "channel": "", "interaction_id": "", "rule_id": "saludo_inicial",
                 "verdict": "cumple", "reviewer": "andres.pinto", "reviewed_at": stamp, "note": ""})
    rows.append({"case_id": info[drawn[0][0]][0], "channel": info[drawn[0][0]][1], "interaction_id": "",
                 "rule_id": "saludo_cordial", "verdict": "no cumple", "reviewer": "andres.pinto",
                 "reviewed_at": stamp, "note": "regla que ya no existe"})
    with open(args.out, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(OWN_COLUMNS), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    print(f"{len(rows)} verdicts → {args.out}")


if __name__ == "__main__":
    main()
