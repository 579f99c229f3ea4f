"""Behaviour: what happens when the operator acts, and how background results reach the views."""
