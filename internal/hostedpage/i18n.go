package hostedpage

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/vigil-auth/vigil"
	"github.com/vigil-auth/vigil/internal/challenge"
)

// Languages are the page's languages; English is the fallback of every
// message.
var Languages = []string{"en", "de", "fr", "es"}

// catalog is one language's messages.
type catalog struct {
	lang string
	msgs map[string]string
}

// T returns the message key with args formatted into it; "" for "".
func (c *catalog) T(key string, args ...any) string {
	if key == "" {
		return ""
	}
	s, ok := c.msgs[key]
	if !ok {
		s, ok = messages["en"][key]
	}
	if !ok {
		return key
	}
	if len(args) > 0 {
		return fmt.Sprintf(s, args...)
	}
	return s
}

// method returns a method's display name.
func (c *catalog) method(m vigil.VerificationMethod) string { return c.T("m." + string(m)) }

// matchLocale returns the supported language of a locale such as "fr-CA",
// or "".
func matchLocale(l string) string {
	l = strings.ToLower(strings.TrimSpace(l))
	if i := strings.IndexAny(l, "-_"); i > 0 {
		l = l[:i]
	}
	for _, s := range Languages {
		if s == l {
			return s
		}
	}
	return ""
}

// acceptLanguage picks the best supported language of an Accept-Language
// header (by order and q-values), or "".
func acceptLanguage(h string) string {
	best, bestQ := "", 0.0
	for _, part := range strings.Split(h, ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if _, err := fmt.Sscanf(v, "%g", &q); err != nil {
				continue
			}
		}
		if l := matchLocale(tag); l != "" && q > bestQ {
			best, bestQ = l, q
		}
	}
	return best
}

// locale chooses the language: the track call's locale (kept in the
// session), then the browser's.
func (h *Handler) locale(r *http.Request, st *state, sess *challenge.Session) *catalog {
	l := ""
	if st != nil {
		l = st.Locale
	}
	if l == "" && sess != nil {
		l = matchLocale(sess.Action.Context.Locale)
	}
	if l == "" {
		l = acceptLanguage(r.Header.Get("Accept-Language"))
	}
	if l == "" {
		l = "en"
	}
	return &catalog{lang: l, msgs: messages[l]}
}

var messages = map[string]map[string]string{
	"en": {
		"m.PASSKEY": "Passkey", "m.SECURITY_KEY": "Security key", "m.AUTHENTICATOR_APP": "Authenticator app",
		"m.EMAIL_OTP": "Email code", "m.SMS": "Text message", "m.EMAIL_MAGIC_LINK": "Email link",
		"m.RECOVERY_CODE": "Recovery code",

		"chooseTitle": "Select an authentication method", "enrollTitle": "Set up a way to confirm it's you",
		"enrollIntro": "Choose how you want to confirm it's you from now on.",
		"codeTitle":   "Confirm it's you", "codeSent": "Enter the code sent to %s.",
		"sendIntro": "We'll send a code to %s.", "sendLinkIntro": "We'll send a link to %s.",
		"totpTitle": "Confirm it's you", "totpIntro": "Enter the 6-digit code from your authenticator app.",
		"recoveryTitle": "Use a recovery code", "recoveryIntro": "Enter one of the recovery codes you saved. Each code works once.",
		"webauthnIntro": "Use your device's screen lock, fingerprint, face or security key.",
		"magicTitle":    "Check your email", "magicSent": "A verification link was sent to %s. Click the link to proceed; this page continues by itself.",
		"enrollMethodTitle": "Set up: %s", "enrollEmailIntro": "Enter your email address. We'll send a code to confirm it.",
		"enrollPhoneIntro":    "Enter your mobile number in international format (for example +64211234567). We'll text you a code.",
		"enrollTOTPIntro":     "Use an authenticator app such as Google Authenticator, 1Password or Authy.",
		"enrollWebAuthnIntro": "Create a passkey or register a security key with your device.",
		"enrollTOTPTitle":     "Scan the QR code", "enrollTOTPScan": "Scan this code with your authenticator app, or enter the key by hand, then enter the 6-digit code it shows.",
		"codesTitle": "Save your recovery codes", "codesIntro": "If you lose access to your other methods, each of these codes lets you in once. They are shown only now: store them somewhere safe.",
		"promptTitle": "Sign in faster with a passkey", "promptIntro": "A passkey lets you confirm it's you with your fingerprint, face or screen lock.",
		"settingsTitle": "Your authentication methods", "doneTitle": "You're verified",
		"doneClose": "This window closes by itself.", "doneNoRedirect": "You can close this page and return to the application.",
		"blockedTitle": "This action is blocked", "blockedIntro": "For your security this action can't be completed. Contact support if you think this is a mistake.",
		"reviewTitle": "We're reviewing this action", "reviewIntro": "It needs a manual review before it can proceed. You'll hear from the application.",
		"failedTitle": "Verification failed", "failedIntro": "Too many wrong attempts. Start again from the application.",

		"codeLabel": "Verification code", "recoveryLabel": "Recovery code", "submit": "Verify", "resend": "Send a new code",
		"resendLink": "Send a new link", "useAnother": "Use another authentication method", "emailLabel": "Email address",
		"phoneLabel": "Mobile number", "secretLabel": "Setup key", "startTOTP": "Show QR code", "sendCode": "Send code",
		"sendLink": "Send link", "continue": "Continue", "authenticate": "Continue with %s", "register": "Create %s",
		"tryAgain": "Try again", "notNow": "Not now", "remove": "Remove", "removeNamed": "Remove %s", "addMethod": "Add a method",
		"regenerate": "Generate new recovery codes", "finish": "Done", "noJS": "This step needs JavaScript.",
		"waiting": "Waiting for you to click the link…", "checkNow": "I've clicked the link",
		"webauthnUnsupported": "This browser can't use passkeys or security keys. Choose another method.",
		"lockedHint":          "Provided by the application.", "qrAlt": "QR code for your authenticator app",
		"qrFallback": "Can't scan? Enter this key:", "inProgress": "Waiting for your device…", "skipLink": "Skip to content",

		"errCodeFormat": "Enter the code.", "errCodeWrong": "That code is wrong or has expired. Try again.",
		"errTooMany": "Too many codes were sent. Wait a few minutes and try again.", "errInvalidInput": "Check what you entered and try again.",
		"errMethod": "This method isn't available here.", "errMethodTitle": "Method not available",
		"errDelivery":        "We couldn't send the message. Try again in a moment.",
		"errResendEnroll":    "To get a new code, enter your address again.",
		"errNoAuthenticator": "That method no longer exists.", "errLastAuthenticator": "You can't remove your only authentication method.",
		"errRedirect": "The application's return address isn't allowed, so you can't be sent back automatically.", "errRedirectTitle": "Can't return to the application",
		"errWebAuthn": "That didn't work. Try again or choose another method.",
		"errInternal": "Something went wrong on our side. Try again in a moment.", "errInternalTitle": "Something went wrong",
		"errExpired": "This link has expired. Start again from the application.", "errExpiredTitle": "This link has expired",
		"errInvalid": "This link isn't valid. Start again from the application.", "errInvalidTitle": "Invalid link",
		"errSession": "Your session has ended or this browser blocked its cookie. Start again from the application.", "errSessionTitle": "Session ended",
		"errForbidden": "This request was refused. Reload the page and try again.", "errForbiddenTitle": "Request refused",
		"errTooLarge": "What you sent is too large.", "changeAddress": "Send again or use another address", "errNotFound": "There is nothing here.", "errNotFoundTitle": "Not found",
	},
	"de": {
		"m.PASSKEY": "Passkey", "m.SECURITY_KEY": "Sicherheitsschlüssel", "m.AUTHENTICATOR_APP": "Authenticator-App",
		"m.EMAIL_OTP": "Code per E-Mail", "m.SMS": "SMS", "m.EMAIL_MAGIC_LINK": "Link per E-Mail",
		"m.RECOVERY_CODE": "Wiederherstellungscode",

		"chooseTitle": "Anmeldemethode wählen", "enrollTitle": "Bestätigungsmethode einrichten",
		"enrollIntro": "Wählen Sie, wie Sie künftig bestätigen möchten, dass Sie es sind.",
		"codeTitle":   "Bestätigen Sie, dass Sie es sind", "codeSent": "Geben Sie den Code ein, der an %s gesendet wurde.",
		"sendIntro": "Wir senden einen Code an %s.", "sendLinkIntro": "Wir senden einen Link an %s.",
		"totpTitle": "Bestätigen Sie, dass Sie es sind", "totpIntro": "Geben Sie den 6-stelligen Code aus Ihrer Authenticator-App ein.",
		"recoveryTitle": "Wiederherstellungscode verwenden", "recoveryIntro": "Geben Sie einen Ihrer gespeicherten Wiederherstellungscodes ein. Jeder Code gilt einmal.",
		"webauthnIntro": "Verwenden Sie die Bildschirmsperre, Ihren Fingerabdruck, Ihr Gesicht oder einen Sicherheitsschlüssel.",
		"magicTitle":    "Prüfen Sie Ihre E-Mails", "magicSent": "Ein Bestätigungslink wurde an %s gesendet. Klicken Sie auf den Link; diese Seite macht dann von selbst weiter.",
		"enrollMethodTitle": "Einrichten: %s", "enrollEmailIntro": "Geben Sie Ihre E-Mail-Adresse ein. Wir senden einen Code zur Bestätigung.",
		"enrollPhoneIntro":    "Geben Sie Ihre Mobilnummer im internationalen Format ein (zum Beispiel +491701234567). Wir senden Ihnen einen Code.",
		"enrollTOTPIntro":     "Verwenden Sie eine Authenticator-App wie Google Authenticator, 1Password oder Authy.",
		"enrollWebAuthnIntro": "Erstellen Sie einen Passkey oder registrieren Sie einen Sicherheitsschlüssel.",
		"enrollTOTPTitle":     "QR-Code scannen", "enrollTOTPScan": "Scannen Sie diesen Code mit Ihrer Authenticator-App oder geben Sie den Schlüssel von Hand ein, dann den angezeigten 6-stelligen Code.",
		"codesTitle": "Wiederherstellungscodes speichern", "codesIntro": "Falls Sie keinen Zugriff mehr auf Ihre anderen Methoden haben, lässt Sie jeder dieser Codes einmal hinein. Sie werden nur jetzt angezeigt: Bewahren Sie sie sicher auf.",
		"promptTitle": "Schneller anmelden mit einem Passkey", "promptIntro": "Mit einem Passkey bestätigen Sie sich per Fingerabdruck, Gesicht oder Bildschirmsperre.",
		"settingsTitle": "Ihre Anmeldemethoden", "doneTitle": "Sie sind bestätigt",
		"doneClose": "Dieses Fenster schließt sich von selbst.", "doneNoRedirect": "Sie können diese Seite schließen und zur Anwendung zurückkehren.",
		"blockedTitle": "Diese Aktion ist gesperrt", "blockedIntro": "Zu Ihrer Sicherheit kann diese Aktion nicht ausgeführt werden. Wenden Sie sich an den Support, wenn Sie einen Fehler vermuten.",
		"reviewTitle": "Wir prüfen diese Aktion", "reviewIntro": "Sie muss manuell geprüft werden, bevor sie fortgesetzt werden kann.",
		"failedTitle": "Bestätigung fehlgeschlagen", "failedIntro": "Zu viele falsche Versuche. Beginnen Sie in der Anwendung von vorn.",

		"codeLabel": "Bestätigungscode", "recoveryLabel": "Wiederherstellungscode", "submit": "Bestätigen", "resend": "Neuen Code senden",
		"resendLink": "Neuen Link senden", "useAnother": "Andere Methode verwenden", "emailLabel": "E-Mail-Adresse",
		"phoneLabel": "Mobilnummer", "secretLabel": "Einrichtungsschlüssel", "startTOTP": "QR-Code anzeigen", "sendCode": "Code senden",
		"sendLink": "Link senden", "continue": "Weiter", "authenticate": "Weiter mit %s", "register": "%s erstellen",
		"tryAgain": "Erneut versuchen", "notNow": "Nicht jetzt", "remove": "Entfernen", "removeNamed": "%s entfernen", "addMethod": "Methode hinzufügen",
		"regenerate": "Neue Wiederherstellungscodes erzeugen", "finish": "Fertig", "noJS": "Für diesen Schritt wird JavaScript benötigt.",
		"waiting": "Warten, bis Sie auf den Link klicken …", "checkNow": "Ich habe auf den Link geklickt",
		"webauthnUnsupported": "Dieser Browser unterstützt keine Passkeys oder Sicherheitsschlüssel. Wählen Sie eine andere Methode.",
		"lockedHint":          "Von der Anwendung vorgegeben.", "qrAlt": "QR-Code für Ihre Authenticator-App",
		"qrFallback": "Scannen nicht möglich? Geben Sie diesen Schlüssel ein:", "inProgress": "Warten auf Ihr Gerät …", "skipLink": "Zum Inhalt springen",

		"errCodeFormat": "Geben Sie den Code ein.", "errCodeWrong": "Der Code ist falsch oder abgelaufen. Versuchen Sie es erneut.",
		"errTooMany": "Es wurden zu viele Codes gesendet. Warten Sie einige Minuten.", "errInvalidInput": "Prüfen Sie Ihre Eingabe und versuchen Sie es erneut.",
		"errMethod": "Diese Methode ist hier nicht verfügbar.", "errMethodTitle": "Methode nicht verfügbar",
		"errDelivery":        "Die Nachricht konnte nicht gesendet werden. Versuchen Sie es gleich noch einmal.",
		"errResendEnroll":    "Für einen neuen Code geben Sie Ihre Adresse erneut ein.",
		"errNoAuthenticator": "Diese Methode gibt es nicht mehr.", "errLastAuthenticator": "Sie können Ihre einzige Anmeldemethode nicht entfernen.",
		"errRedirect": "Die Rücksprungadresse der Anwendung ist nicht erlaubt.", "errRedirectTitle": "Rückkehr zur Anwendung nicht möglich",
		"errWebAuthn": "Das hat nicht funktioniert. Versuchen Sie es erneut oder wählen Sie eine andere Methode.",
		"errInternal": "Bei uns ist etwas schiefgelaufen. Versuchen Sie es gleich noch einmal.", "errInternalTitle": "Etwas ist schiefgelaufen",
		"errExpired": "Dieser Link ist abgelaufen. Beginnen Sie in der Anwendung von vorn.", "errExpiredTitle": "Link abgelaufen",
		"errInvalid": "Dieser Link ist ungültig. Beginnen Sie in der Anwendung von vorn.", "errInvalidTitle": "Ungültiger Link",
		"errSession": "Ihre Sitzung ist beendet oder der Browser hat ihr Cookie blockiert. Beginnen Sie in der Anwendung von vorn.", "errSessionTitle": "Sitzung beendet",
		"errForbidden": "Die Anfrage wurde abgelehnt. Laden Sie die Seite neu.", "errForbiddenTitle": "Anfrage abgelehnt",
		"errTooLarge": "Die Eingabe ist zu groß.", "changeAddress": "Erneut senden oder andere Adresse verwenden", "errNotFound": "Hier gibt es nichts.", "errNotFoundTitle": "Nicht gefunden",
	},
	"fr": {
		"m.PASSKEY": "Clé d'accès", "m.SECURITY_KEY": "Clé de sécurité", "m.AUTHENTICATOR_APP": "Application d'authentification",
		"m.EMAIL_OTP": "Code par e-mail", "m.SMS": "SMS", "m.EMAIL_MAGIC_LINK": "Lien par e-mail",
		"m.RECOVERY_CODE": "Code de récupération",

		"chooseTitle": "Choisissez une méthode d'authentification", "enrollTitle": "Configurez une méthode de vérification",
		"enrollIntro": "Choisissez comment vous confirmerez votre identité à l'avenir.",
		"codeTitle":   "Confirmez votre identité", "codeSent": "Saisissez le code envoyé à %s.",
		"sendIntro": "Nous enverrons un code à %s.", "sendLinkIntro": "Nous enverrons un lien à %s.",
		"totpTitle": "Confirmez votre identité", "totpIntro": "Saisissez le code à 6 chiffres de votre application d'authentification.",
		"recoveryTitle": "Utiliser un code de récupération", "recoveryIntro": "Saisissez l'un de vos codes de récupération. Chaque code ne sert qu'une fois.",
		"webauthnIntro": "Utilisez le verrouillage d'écran, votre empreinte, votre visage ou une clé de sécurité.",
		"magicTitle":    "Consultez vos e-mails", "magicSent": "Un lien de vérification a été envoyé à %s. Cliquez dessus ; cette page continuera d'elle-même.",
		"enrollMethodTitle": "Configurer : %s", "enrollEmailIntro": "Saisissez votre adresse e-mail. Nous enverrons un code pour la confirmer.",
		"enrollPhoneIntro":    "Saisissez votre numéro de mobile au format international (par exemple +33612345678). Nous vous enverrons un code.",
		"enrollTOTPIntro":     "Utilisez une application comme Google Authenticator, 1Password ou Authy.",
		"enrollWebAuthnIntro": "Créez une clé d'accès ou enregistrez une clé de sécurité.",
		"enrollTOTPTitle":     "Scannez le QR code", "enrollTOTPScan": "Scannez ce code avec votre application ou saisissez la clé à la main, puis saisissez le code à 6 chiffres affiché.",
		"codesTitle": "Enregistrez vos codes de récupération", "codesIntro": "Si vous perdez l'accès à vos autres méthodes, chacun de ces codes vous permet de vous connecter une fois. Ils ne sont affichés que maintenant : conservez-les en lieu sûr.",
		"promptTitle": "Connectez-vous plus vite avec une clé d'accès", "promptIntro": "Une clé d'accès vous permet de confirmer votre identité avec votre empreinte, votre visage ou le verrouillage d'écran.",
		"settingsTitle": "Vos méthodes d'authentification", "doneTitle": "Vous êtes vérifié",
		"doneClose": "Cette fenêtre se ferme d'elle-même.", "doneNoRedirect": "Vous pouvez fermer cette page et revenir à l'application.",
		"blockedTitle": "Cette action est bloquée", "blockedIntro": "Pour votre sécurité, cette action ne peut pas aboutir. Contactez le support si vous pensez qu'il s'agit d'une erreur.",
		"reviewTitle": "Nous examinons cette action", "reviewIntro": "Elle doit être vérifiée manuellement avant de pouvoir continuer.",
		"failedTitle": "Échec de la vérification", "failedIntro": "Trop de tentatives incorrectes. Recommencez depuis l'application.",

		"codeLabel": "Code de vérification", "recoveryLabel": "Code de récupération", "submit": "Vérifier", "resend": "Envoyer un nouveau code",
		"resendLink": "Envoyer un nouveau lien", "useAnother": "Utiliser une autre méthode", "emailLabel": "Adresse e-mail",
		"phoneLabel": "Numéro de mobile", "secretLabel": "Clé de configuration", "startTOTP": "Afficher le QR code", "sendCode": "Envoyer le code",
		"sendLink": "Envoyer le lien", "continue": "Continuer", "authenticate": "Continuer avec : %s", "register": "Créer : %s",
		"tryAgain": "Réessayer", "notNow": "Pas maintenant", "remove": "Supprimer", "removeNamed": "Supprimer %s", "addMethod": "Ajouter une méthode",
		"regenerate": "Générer de nouveaux codes de récupération", "finish": "Terminé", "noJS": "Cette étape nécessite JavaScript.",
		"waiting": "En attente de votre clic sur le lien…", "checkNow": "J'ai cliqué sur le lien",
		"webauthnUnsupported": "Ce navigateur ne prend pas en charge les clés d'accès ni les clés de sécurité. Choisissez une autre méthode.",
		"lockedHint":          "Fourni par l'application.", "qrAlt": "QR code pour votre application d'authentification",
		"qrFallback": "Impossible de scanner ? Saisissez cette clé :", "inProgress": "En attente de votre appareil…", "skipLink": "Aller au contenu",

		"errCodeFormat": "Saisissez le code.", "errCodeWrong": "Ce code est incorrect ou a expiré. Réessayez.",
		"errTooMany": "Trop de codes ont été envoyés. Patientez quelques minutes.", "errInvalidInput": "Vérifiez votre saisie et réessayez.",
		"errMethod": "Cette méthode n'est pas disponible ici.", "errMethodTitle": "Méthode indisponible",
		"errDelivery":        "Le message n'a pas pu être envoyé. Réessayez dans un instant.",
		"errResendEnroll":    "Pour recevoir un nouveau code, saisissez à nouveau votre adresse.",
		"errNoAuthenticator": "Cette méthode n'existe plus.", "errLastAuthenticator": "Vous ne pouvez pas supprimer votre seule méthode d'authentification.",
		"errRedirect": "L'adresse de retour de l'application n'est pas autorisée.", "errRedirectTitle": "Retour à l'application impossible",
		"errWebAuthn": "Cela n'a pas fonctionné. Réessayez ou choisissez une autre méthode.",
		"errInternal": "Un problème est survenu de notre côté. Réessayez dans un instant.", "errInternalTitle": "Un problème est survenu",
		"errExpired": "Ce lien a expiré. Recommencez depuis l'application.", "errExpiredTitle": "Lien expiré",
		"errInvalid": "Ce lien n'est pas valide. Recommencez depuis l'application.", "errInvalidTitle": "Lien non valide",
		"errSession": "Votre session a pris fin ou ce navigateur a bloqué son cookie. Recommencez depuis l'application.", "errSessionTitle": "Session terminée",
		"errForbidden": "La requête a été refusée. Rechargez la page.", "errForbiddenTitle": "Requête refusée",
		"errTooLarge": "Votre saisie est trop volumineuse.", "changeAddress": "Renvoyer ou utiliser une autre adresse", "errNotFound": "Il n'y a rien ici.", "errNotFoundTitle": "Introuvable",
	},
	"es": {
		"m.PASSKEY": "Llave de acceso", "m.SECURITY_KEY": "Llave de seguridad", "m.AUTHENTICATOR_APP": "App de autenticación",
		"m.EMAIL_OTP": "Código por correo", "m.SMS": "SMS", "m.EMAIL_MAGIC_LINK": "Enlace por correo",
		"m.RECOVERY_CODE": "Código de recuperación",

		"chooseTitle": "Elige un método de autenticación", "enrollTitle": "Configura un método de verificación",
		"enrollIntro": "Elige cómo confirmarás tu identidad a partir de ahora.",
		"codeTitle":   "Confirma que eres tú", "codeSent": "Introduce el código enviado a %s.",
		"sendIntro": "Enviaremos un código a %s.", "sendLinkIntro": "Enviaremos un enlace a %s.",
		"totpTitle": "Confirma que eres tú", "totpIntro": "Introduce el código de 6 dígitos de tu app de autenticación.",
		"recoveryTitle": "Usar un código de recuperación", "recoveryIntro": "Introduce uno de tus códigos de recuperación. Cada código sirve una vez.",
		"webauthnIntro": "Usa el bloqueo de pantalla, tu huella, tu cara o una llave de seguridad.",
		"magicTitle":    "Revisa tu correo", "magicSent": "Se envió un enlace de verificación a %s. Haz clic en él; esta página continuará sola.",
		"enrollMethodTitle": "Configurar: %s", "enrollEmailIntro": "Introduce tu dirección de correo. Enviaremos un código para confirmarla.",
		"enrollPhoneIntro":    "Introduce tu número de móvil en formato internacional (por ejemplo +34612345678). Te enviaremos un código.",
		"enrollTOTPIntro":     "Usa una app como Google Authenticator, 1Password o Authy.",
		"enrollWebAuthnIntro": "Crea una llave de acceso o registra una llave de seguridad.",
		"enrollTOTPTitle":     "Escanea el código QR", "enrollTOTPScan": "Escanea este código con tu app o introduce la clave a mano y luego el código de 6 dígitos que muestre.",
		"codesTitle": "Guarda tus códigos de recuperación", "codesIntro": "Si pierdes el acceso a tus otros métodos, cada código te permite entrar una vez. Solo se muestran ahora: guárdalos en un lugar seguro.",
		"promptTitle": "Inicia sesión más rápido con una llave de acceso", "promptIntro": "Una llave de acceso te permite confirmar tu identidad con tu huella, tu cara o el bloqueo de pantalla.",
		"settingsTitle": "Tus métodos de autenticación", "doneTitle": "Verificación completada",
		"doneClose": "Esta ventana se cerrará sola.", "doneNoRedirect": "Puedes cerrar esta página y volver a la aplicación.",
		"blockedTitle": "Esta acción está bloqueada", "blockedIntro": "Por tu seguridad, esta acción no puede completarse. Contacta con soporte si crees que es un error.",
		"reviewTitle": "Estamos revisando esta acción", "reviewIntro": "Necesita una revisión manual antes de continuar.",
		"failedTitle": "La verificación falló", "failedIntro": "Demasiados intentos incorrectos. Vuelve a empezar desde la aplicación.",

		"codeLabel": "Código de verificación", "recoveryLabel": "Código de recuperación", "submit": "Verificar", "resend": "Enviar un código nuevo",
		"resendLink": "Enviar un enlace nuevo", "useAnother": "Usar otro método", "emailLabel": "Correo electrónico",
		"phoneLabel": "Número de móvil", "secretLabel": "Clave de configuración", "startTOTP": "Mostrar código QR", "sendCode": "Enviar código",
		"sendLink": "Enviar enlace", "continue": "Continuar", "authenticate": "Continuar con %s", "register": "Crear %s",
		"tryAgain": "Reintentar", "notNow": "Ahora no", "remove": "Eliminar", "removeNamed": "Eliminar %s", "addMethod": "Añadir un método",
		"regenerate": "Generar nuevos códigos de recuperación", "finish": "Listo", "noJS": "Este paso necesita JavaScript.",
		"waiting": "Esperando a que hagas clic en el enlace…", "checkNow": "Ya hice clic en el enlace",
		"webauthnUnsupported": "Este navegador no admite llaves de acceso ni de seguridad. Elige otro método.",
		"lockedHint":          "Indicado por la aplicación.", "qrAlt": "Código QR para tu app de autenticación",
		"qrFallback": "¿No puedes escanear? Introduce esta clave:", "inProgress": "Esperando a tu dispositivo…", "skipLink": "Ir al contenido",

		"errCodeFormat": "Introduce el código.", "errCodeWrong": "El código es incorrecto o ha caducado. Inténtalo de nuevo.",
		"errTooMany": "Se enviaron demasiados códigos. Espera unos minutos.", "errInvalidInput": "Revisa lo que escribiste e inténtalo de nuevo.",
		"errMethod": "Este método no está disponible aquí.", "errMethodTitle": "Método no disponible",
		"errDelivery":        "No pudimos enviar el mensaje. Inténtalo de nuevo en un momento.",
		"errResendEnroll":    "Para recibir un código nuevo, vuelve a introducir tu dirección.",
		"errNoAuthenticator": "Ese método ya no existe.", "errLastAuthenticator": "No puedes eliminar tu único método de autenticación.",
		"errRedirect": "La dirección de retorno de la aplicación no está permitida.", "errRedirectTitle": "No se puede volver a la aplicación",
		"errWebAuthn": "No funcionó. Inténtalo de nuevo o elige otro método.",
		"errInternal": "Algo salió mal por nuestra parte. Inténtalo de nuevo en un momento.", "errInternalTitle": "Algo salió mal",
		"errExpired": "Este enlace ha caducado. Vuelve a empezar desde la aplicación.", "errExpiredTitle": "Enlace caducado",
		"errInvalid": "Este enlace no es válido. Vuelve a empezar desde la aplicación.", "errInvalidTitle": "Enlace no válido",
		"errSession": "Tu sesión terminó o este navegador bloqueó su cookie. Vuelve a empezar desde la aplicación.", "errSessionTitle": "Sesión terminada",
		"errForbidden": "La solicitud fue rechazada. Vuelve a cargar la página.", "errForbiddenTitle": "Solicitud rechazada",
		"errTooLarge": "Lo que enviaste es demasiado grande.", "changeAddress": "Reenviar o usar otra dirección", "errNotFound": "Aquí no hay nada.", "errNotFoundTitle": "No encontrado",
	},
}

// Lang is the catalog's language tag.
func (c *catalog) Lang() string { return c.lang }
