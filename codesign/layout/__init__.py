"""Layout stage: sky130 cells drawn with gdstk, checked with KLayout (docs/layout.md)."""
