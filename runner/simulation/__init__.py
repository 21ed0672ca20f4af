"""Simulation of the executable BPMN on a virtual clock (issue 5): scenarios, engine, KPIs, what-if, interop."""
