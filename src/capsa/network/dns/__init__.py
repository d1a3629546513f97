"""The embedded DNS server: one process per host serving every network with DNS, each
on its gateway address, scoped by the address a query arrives on (`records`: what it
answers, `server`: the process, `control`: starting, reloading and stopping it)."""
