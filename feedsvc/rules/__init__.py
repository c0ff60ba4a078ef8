"""Site rules in the ftr-site-config format, with feedsvc's extension directives."""
