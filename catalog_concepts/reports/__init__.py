"""Run reports: count and score tables, the HTML contact sheet, its publication and link."""
