"""What tests share: factories, signed webhook posts, the domain clock, the Twilio stand-in, Redis, the live server."""
