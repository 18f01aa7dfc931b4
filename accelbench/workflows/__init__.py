"""What users run: the `accelbench` command line and the sweep config presets."""
