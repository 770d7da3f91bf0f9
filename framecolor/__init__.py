"""framecolor: colour for black-and-white photographs and old film."""
