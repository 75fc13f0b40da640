"""Users and their roles: researcher, annotator; admins are superusers."""
