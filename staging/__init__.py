"""Front-end code waiting for the lead to move it into ntktui (ntktui/ is being restructured)."""
