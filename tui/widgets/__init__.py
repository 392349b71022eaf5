"""Widgets of the certdesk app, one screen region each."""
