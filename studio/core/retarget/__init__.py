"""Retargeting: targets (other identities, stylized and game characters), their morphs, retargeted curves
and exports, stream mappings."""
