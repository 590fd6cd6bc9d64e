"""The helper package every shipline plugin uses: settings, CI context, auth, kube, logging, reports."""
