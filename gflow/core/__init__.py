"""Pure scheduling and parsing rules: no IO, no asyncio, unit-testable."""
