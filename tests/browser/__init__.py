"""The pages driven in headless Chromium (Debian's chromium, Playwright's executable_path)."""
