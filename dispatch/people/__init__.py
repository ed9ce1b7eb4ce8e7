"""Nurses, establishments and coordinators: imports, API tokens, logins and duty."""
