"""The fault suite (`make faults`, docs/reliability.md): a load of small packages through
a real hub while a nemesis kills -9 one component, a history of every operation, and a
checker that proves nothing was lost, doubled, stuck or left unshredded."""
