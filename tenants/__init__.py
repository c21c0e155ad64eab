"""`manage.py tenants apply|export`: organizations, studios, numbers, members and provider accounts as a file.

schema.py reads and checks the file's shape, apply.py writes it in one transaction, export.py writes it back;
demo.py is the demo organization as such a file (`manage.py demo`). Nothing is imported here: Django imports this
package while it loads the apps, before any model may be.
"""
