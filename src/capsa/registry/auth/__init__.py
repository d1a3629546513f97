"""Who may do what: htpasswd users, over basic auth or bearer tokens the server issues."""
