"""CSV cells that a spreadsheet will not run as formulas (CSV injection), for every CSV download of Loupe."""

#: What Excel, LibreOffice and Google Sheets read as the start of a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value):
    """`value` with a leading apostrophe when it is text that starts like a formula; anything else unchanged.

    Use it on free text (file names, user names, system names, model answers), not on numbers.
    """
    if isinstance(value, str) and value[:1] in FORMULA_STARTS:
        return "'" + value
    return value
