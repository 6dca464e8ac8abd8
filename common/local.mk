# common: small pieces shared by every component (filled in as they land).
