"""The pure domain: state machines, money, events. No I/O, no clock, no environment."""
