"""Parse a /metrics scrape (read from standard input) with the official Prometheus client's
text parser and print its families as JSON: {name: {"type": ..., "samples": [[name, labels,
value], ...]}}. A page the parser refuses fails here, with the parser's error."""

import json
import sys

from prometheus_client.parser import text_string_to_metric_families

families = {}
for family in text_string_to_metric_families(sys.stdin.read()):
    families[family.name] = {
        "type": family.type,
        "samples": [[s.name, s.labels, s.value] for s in family.samples],
    }
json.dump(families, sys.stdout)
