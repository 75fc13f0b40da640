"""Crowd platforms (Prolific, MTurk): a public entry link per project, participants, completion codes, approval."""
