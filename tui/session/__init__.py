"""tui/session"""
