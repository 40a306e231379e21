"""The network and the costs: what every method is built from.

- :mod:`~gramstyle.nn.backbone`: VGG19 with the paper's layer names;
- :mod:`~gramstyle.nn.weights`: where its weights come from (offline, verified);
- :mod:`~gramstyle.nn.losses`: the lecture's costs as pure functions;
- :mod:`~gramstyle.nn.masks`: style per region; :mod:`~gramstyle.nn.colour`: colour
  preservation; :mod:`~gramstyle.nn.geometry`: where tiles fall.
"""
