"""People and places: user accounts (create, disable, reset) and the area tree."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from service.office import areas, audit, auth, policy
from service.storage.models import Area, User
from service.admin import bp
from service.admin.forms import AreaForm, ConfirmForm, UserForm


def area_choices(user, blank=None):
    choices = [("", blank)] if blank is not None else []
    for a in policy.visible_areas(user):
        choices.append((a.code, "\u3000" * areas.depth(a) + f"{a.name} ({a.code})"))
    return choices


@bp.get("/users")
@policy.requires("users.manage")
def users():
    user = auth.current_user()
    return render_template("admin/users.html", users=list(policy.manageable_users(user)))


@bp.route("/users/new", methods=["GET", "POST"])
@policy.requires("users.manage")
def user_new():
    me = auth.current_user()
    form = UserForm()
    form.role.choices = [(r, r) for r in policy.roles_assignable(me)]
    form.area.choices = area_choices(me, blank="—" if policy.can(me, "areas.all") else None)
    if form.validate_on_submit():
        area = policy.get_area_or_404(me, form.area.data) if form.area.data else None
        if area is None and policy.needs_area(form.role.data):
            form.area.errors.append(_("Managers and surveyors belong to an area."))
        elif User.select().where(User.username == form.username.data.strip()).exists():
            form.username.errors.append(_("This username is taken."))
        else:
            password = auth.generate_password()
            new = User.create(username=form.username.data.strip(),
                              display_name=(form.display_name.data or "").strip(),
                              role=form.role.data,
                              area=area, password_hash=auth.hash_password(password),
                              must_change_password=True)
            audit.record("user_created", target=f"user:{new.id}", username_created=new.username,
                         role=new.role, area=area.code if area else None)
            return render_template("admin/user_password.html", new=new, password=password)
    return render_template("admin/user_form.html", form=form), (400 if form.errors else 200)


@bp.post("/users/<int:user_id>/<action>")
@policy.requires("users.manage")
def user_action(user_id, action):
    me = auth.current_user()
    target = policy.get_user_or_404(me, user_id)
    if action not in ("disable", "enable", "reset") or not ConfirmForm().validate_on_submit():
        abort(400)
    if target.id == me.id and action == "disable":
        flash(_("You cannot disable your own account."))
        return redirect(url_for("admin.users"))
    if action == "reset":
        password = auth.generate_password()
        User.update(password_hash=auth.hash_password(password), must_change_password=True
                    ).where(User.id == target.id).execute()
        auth.end_sessions(target)
        audit.record("user_password_reset", target=f"user:{target.id}")
        return render_template("admin/user_password.html", new=target, password=password)
    User.update(active=(action == "enable")).where(User.id == target.id).execute()
    if action == "disable":
        auth.end_sessions(target)
    audit.record(f"user_{action}d", target=f"user:{target.id}", username_changed=target.username)
    flash(_("Saved."))
    return redirect(url_for("admin.users"))


@bp.route("/areas", methods=["GET", "POST"])
@policy.requires("areas.manage")
def areas_page():
    me = auth.current_user()
    form = AreaForm()
    form.parent.choices = area_choices(me, blank="—" if policy.can(me, "areas.all") else None)
    if form.validate_on_submit():
        parent = policy.get_area_or_404(me, form.parent.data) if form.parent.data else None
        if parent is None and not policy.can(me, "areas.all"):
            abort(404)
        try:
            area = areas.create(form.code.data, form.name.data, parent)
        except areas.AreaError as exc:
            form.code.errors.extend(exc.problems)
        else:
            audit.record("area_created", target=f"area:{area.code}", name=area.name,
                         parent=parent.code if parent else None)
            flash(_("Saved."))
            return redirect(url_for("admin.areas_page"))
    tree = [(a, areas.depth(a)) for a in policy.visible_areas(me)]
    return render_template("admin/areas.html", tree=tree, form=form), (400 if form.errors else 200)


@bp.route("/areas/<code>", methods=["GET", "POST"])
@policy.requires("areas.manage")
def area_edit(code):
    me = auth.current_user()
    area = policy.get_area_or_404(me, code)
    name = request.form.get("name", "").strip()
    if request.method == "POST":
        if not ConfirmForm().validate_on_submit() or not name or len(name) > 200:
            flash(_("Please give a name of up to 200 characters."))
        else:
            old = area.name
            Area.update(name=name).where(Area.id == area.id).execute()
            audit.record("area_renamed", target=f"area:{area.code}", old=old, new=name)
            flash(_("Saved."))
        return redirect(url_for("admin.areas_page"))
    return render_template("admin/area_edit.html", area=area)
