"""Active pair selection without Django: expected information gain on the scaling posterior, and the critic's prior."""
