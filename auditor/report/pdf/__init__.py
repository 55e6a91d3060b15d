"""The PDF evidence report: templates (YAML layouts), styles, section builders, the document."""
