"""Generate the labelled retrieval corpus `towns.json` (synthetic, deterministic, CC0).

    .venv/bin/python tests/rag/data/make_corpus.py

Forty fictional towns, each a Markdown document with History, Economy and Culture sections
written from varied templates, and one question per section labelled with the document and
heading that answer it. The templates overlap on purpose (every town has a river, a
founder, an industry), so the town's name is what disambiguates: exactly where full-text
matching helps dense vectors.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

SYLLABLES = [
    "vel",
    "mor",
    "an",
    "tis",
    "kar",
    "do",
    "lun",
    "bre",
    "sa",
    "quin",
    "ost",
    "ra",
    "fen",
    "del",
    "ham",
    "wick",
    "por",
    "lo",
    "zan",
    "eth",
]
RIVERS = ["Arlen", "Mossy Brook", "Tavy", "Serin", "Kell", "Oxmere", "Dun", "Wyre"]
INDUSTRIES = [
    ("wool weaving", "looms and dye works"), ("glassblowing", "furnaces along the quay"),
    ("salt mining", "deep galleries under the hills"), ("shipbuilding", "dry docks"),
    ("clockmaking", "small precision workshops"), ("cider pressing", "apple orchards"),
    ("slate quarrying", "terraced quarries"), ("paper milling", "water-driven mills"),
]  # fmt: skip
FESTIVALS = [
    "a lantern parade on the longest night", "a cheese-rolling race every spring",
    "a boat blessing at midsummer", "a week-long fiddle contest in autumn",
    "a harvest bonfire where the oldest resident lights the pyre",
]  # fmt: skip
MARKET_DAYS = ["Mondays", "Thursdays", "Saturdays"]
FOUNDERS = ["a band of monks", "a Norse trader", "a Roman veteran", "two feuding brothers"]


def town_names(rng: random.Random, count: int) -> list[str]:
    names: set[str] = set()
    while len(names) < count:
        names.add("".join(rng.sample(SYLLABLES, 3)).capitalize())
    return sorted(names)


def town(rng: random.Random, name: str) -> tuple[str, list[dict[str, str]]]:
    year, river = rng.randint(900, 1700), rng.choice(RIVERS)
    founder, (industry, detail) = rng.choice(FOUNDERS), rng.choice(INDUSTRIES)
    festival, people = rng.choice(FESTIVALS), rng.randint(2, 90) * 1000
    markdown = (
        f"# {name}\n\n{name} is a town of about {people:,} people on the River {river}.\n\n"
        f"## History\n\n{name} was founded in {year} by {founder}, who built a ford across the "
        f"{river}. The old town walls date from {year + rng.randint(40, 200)}.\n\n"
        f"## Economy\n\nThe economy of {name} rests on {industry}, with {detail} employing "
        f"much of the town. Markets are held on {rng.choice(MARKET_DAYS)}.\n\n"
        f"## Culture\n\nEach year {name} holds {festival}. The town museum keeps records of "
        f"the {industry} trade.\n"
    )
    queries = [
        {"query": f"When was {name} founded and by whom?", "heading": "History"},
        {"query": f"What industry does {name} depend on?", "heading": "Economy"},
        {"query": f"Which festival is celebrated in {name}?", "heading": "Culture"},
    ]
    return markdown, queries


def main() -> None:
    rng = random.Random(20240611)
    documents: list[dict[str, str]] = []
    queries: list[dict[str, str]] = []
    for index, name in enumerate(town_names(rng, 40)):
        markdown, labelled = town(rng, name)
        doc_id = f"town-{index:02d}"
        documents.append({"doc_id": doc_id, "title": name, "markdown": markdown})
        queries.extend({**q, "doc_id": doc_id} for q in labelled)
    out = Path(__file__).with_name("towns.json")
    out.write_text(json.dumps({"documents": documents, "queries": queries}, indent=1) + "\n")
    print(f"wrote {out}: {len(documents)} documents, {len(queries)} queries")


if __name__ == "__main__":
    main()
