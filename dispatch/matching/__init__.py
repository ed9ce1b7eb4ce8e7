"""Who is asked, and when: eligible nurses in ranked order (``candidates``), the rounds and
waves of a request's search (``waves``), and the adaptive policy with its estimates."""
