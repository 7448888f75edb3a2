"""PCSR-style routing between a heavy and a light path (Jeong et al., ECCV 2024; seeds.md sections 2, 4):
classifier and features (:mod:`.classifier`), PCSR's decision knobs (:mod:`.decision`), temporal
hysteresis (:mod:`.hysteresis`), tile/pixel gather-scatter (:mod:`.tiles`), the budget controller
(:mod:`.budget`), the per-frame router (:mod:`.router`) and the training loss (:mod:`.loss`).
See docs/sr_methods.md."""
