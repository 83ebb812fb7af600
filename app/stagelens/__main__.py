from stagelens.cli import main

raise SystemExit(main())
