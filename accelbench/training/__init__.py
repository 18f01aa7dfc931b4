"""Proxified training: recipes and their schedules (`training.recipe`, no torch), ImageNet-layout
data (`training.data`), the trainer (`training.trainer`)."""
