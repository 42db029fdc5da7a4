"""Files and wire formats: atomic writes, JSON validation, take curves (CSV/JSON), Live Link Face CSV, glTF,
VMC, ARKit names, the studio's packaged resources."""
