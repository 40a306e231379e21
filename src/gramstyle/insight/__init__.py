"""``gramstyle explain``: what the style matrices capture, as numbers and as a report.

- :mod:`~gramstyle.insight.numbers`: a stylisation's style matrices, channel pairs,
  cost history and one-layer reconstructions, as data;
- :mod:`~gramstyle.insight.figures` and :mod:`~gramstyle.insight.report`: drawn
  with matplotlib into an HTML folder that appears whole or not at all.
"""

#: Where ``gramstyle explain`` writes its report by default.
DEFAULT_OUTPUT = "gramstyle_explain"
#: Marks a folder as a gramstyle report, so --overwrite never deletes anything else.
MARKER = "numbers.json"
